{#- The RFM measures customer_rfm publishes, with their R, F and M scores (1..N, var
    score_buckets) by var score_method and the segment lookup code (scores rescaled to 1..5).
    Goodness: fewer recency days, more orders, more money. A view (dbt_project.yml): read once,
    by customer_rfm, which then scores and segments in one pass over the measures instead of
    writing the scores to disk and joining them back. -#}
with

rfm_values as (
    select * from {{ ref('int_customers__rfm_values') }}
),

scored as (
    select
        customer_id,
        as_of,
        recency_days,
        frequency,
        monetary,
        avg_basket,
        first_order_date,
        last_order_date,
        cohort,
        {{ rfm_score('recency_days desc') }} as r_score,
        {{ rfm_score('frequency asc') }} as f_score,
        {{ rfm_score('monetary asc') }} as m_score
    from rfm_values
),

coded as (
    select
        *,
        {{ dbt.concat([
            "cast(" ~ segment_scale_score('r_score') ~ " as string)",
            "cast(" ~ segment_scale_score('f_score') ~ " as string)",
            "cast(" ~ segment_scale_score('m_score') ~ " as string)",
        ]) }} as rfm_code
    from scored
)

select * from coded
