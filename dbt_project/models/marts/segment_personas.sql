{#- One persona per segment with customers (and the overall row), every figure an aggregate of
    its scored customers: size and value (from segment_kpis, so they reconcile), medians of
    recency, frequency and basket, promo-order share, return rate, tickets per customer, NPS
    with its number of answers, the mean R and F scores and the tone of message they suggest,
    and for each persona attribute its most frequent value with that value's share (from
    segment_persona_breakdowns; 'unknown', 'no_answer' and merged or suppressed cells skipped). Segments
    smaller than var persona_min_customers keep their size but no median, share or top value
    (is_suppressed).

    Tone (R x F plane, scores against the scale's midpoint (N + 1) / 2): high R and F ->
    'reward'; high R, low F -> 'nurture'; low R, high F -> 'winback'; both low -> 'light'. -#}
{%- set attributes = persona_attributes() %}
{%- set midpoint = (score_buckets() + 1) / 2 %}
with

facts as (
    select * from {{ ref('int_customers__persona_facts') }}
),

segment_kpis as (
    select * from {{ ref('segment_kpis') }}
),

breakdowns as (
    select * from {{ ref('segment_persona_breakdowns') }}
),

grouped_facts as (
    {{ with_overall_rows('facts', 'persona_segment') }}
),

segment_measures as (
    select
        persona_segment,
        count(*) as customers,
        {{ median_of('cast(recency_days as double)') }} as median_recency_days,
        {{ median_of('cast(frequency as double)') }} as median_frequency,
        {{ median_of('cast(avg_basket as double)') }} as median_basket,
        avg(cast(promo_order_share as double)) as promo_order_share,
        avg(cast(r_score as double)) as mean_r_score,
        avg(cast(f_score as double)) as mean_f_score
    from grouped_facts
    group by persona_segment
),

{# The most frequent known, published value of each attribute. -#}
ranked_values as (
    select
        segment,
        attribute,
        value,
        share,
        row_number() over (
            partition by segment, attribute
            order by customers desc, value asc
        ) as known_rank
    from breakdowns
    where not is_suppressed and value not in ('unknown', 'other_values', 'no_answer')
),

-- Select items repeated by a jinja loop defeat sqlfluff's indent check: -- noqa: disable=LT02
top_values as (
    select
        segment,
        {%- for attribute in attributes %}
        max(case when attribute = '{{ attribute }}' then value end) as top_{{ attribute }},
        max(case when attribute = '{{ attribute }}' then share end) as top_{{ attribute }}_share
        {{- "," if not loop.last }}
        {%- endfor %}
    from ranked_values
    where known_rank = 1
    group by segment
),

personas as (
    select
        {{ as_of_date() }} as as_of,
        cast(segment_measures.persona_segment as string) as segment,
        cast(segment_measures.customers as integer) as customers,
        segment_measures.customers < {{ persona_min_customers() }} as is_suppressed,
        segment_kpis.share,
        segment_kpis.revenue,
        segment_kpis.revenue_share,
        {{ safe_divide('segment_kpis.revenue', 'segment_kpis.customers') }} as avg_monetary,
        {%- for measure in ['median_recency_days', 'median_frequency', 'median_basket',
                            'promo_order_share', 'mean_r_score', 'mean_f_score'] %}
        case when segment_measures.customers >= {{ persona_min_customers() }}
            then segment_measures.{{ measure }} end as {{ measure }},
        {%- endfor %}
        segment_kpis.return_rate,
        segment_kpis.tickets_per_customer,
        segment_kpis.nps,
        segment_kpis.nps_responses,
        segment_kpis.is_nps_reliable,
        cast(case
            when segment_measures.mean_r_score >= {{ midpoint }}
                and segment_measures.mean_f_score >= {{ midpoint }} then 'reward'
            when segment_measures.mean_r_score >= {{ midpoint }} then 'nurture'
            when segment_measures.mean_f_score >= {{ midpoint }} then 'winback'
            else 'light'
        end as string) as tone,
        {%- for attribute in attributes %}
        cast(top_values.top_{{ attribute }} as string) as top_{{ attribute }},
        top_values.top_{{ attribute }}_share
        {{- "," if not loop.last }}
        {%- endfor %}
    from segment_measures
    inner join segment_kpis
        on segment_measures.persona_segment = segment_kpis.segment
    left join top_values
        on segment_measures.persona_segment = top_values.segment
)

-- noqa: enable=LT02
select * from personas
