{#- RFM score of one dimension, 1..N, higher is better.

    `goodness_order` orders customers from worst to best (e.g. "recency_days desc",
    "frequency asc"). Methods:
    - rank: tie-consistent. score = floor(N * (rank - 1) / customers) + 1 where rank() gives ties
      their lowest rank, so identical values always share a score.
    - ntile: NTILE(N) with the customer id as tie-breaker (equal-sized buckets, ties may split).
-#}
{% macro rfm_score(goodness_order, tie_breaker='customer_id') -%}
    {%- set buckets = score_buckets() -%}
    {%- set method = score_method() -%}
    {%- if method == 'ntile' -%}
        cast(ntile({{ buckets }}) over (order by {{ goodness_order }}, {{ tie_breaker }} asc) as integer)
    {%- else -%}
        cast(floor(
            cast({{ buckets }} * (rank() over (order by {{ goodness_order }}) - 1) as double)
            / cast(count(*) over () as double)
        ) as integer) + 1
    {%- endif -%}
{%- endmacro %}

{#- A score on the 1..N scale brought to the 1..5 scale of the segment map: ceil(score * 5 / N).
    Identity when N = 5. -#}
{% macro segment_scale_score(score_column) -%}
    {%- set buckets = score_buckets() -%}
    {%- if buckets == 5 -%}
        {{ score_column }}
    {%- else -%}
        cast(ceil(cast({{ score_column }} * 5 as double) / cast({{ buckets }} as double)) as integer)
    {%- endif -%}
{%- endmacro %}
