{#- Value range behind every score of the refresh, per dimension, so a score can be explained. -#}
with

{# The published scores (int_customers__rfm_scores is a view: reading it would score every
    customer a second time). -#}
customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

dimension_values as (
    select 'r' as dimension, r_score as score, cast(recency_days as decimal(18, 2)) as value
    from customer_rfm
    union all
    select 'f' as dimension, f_score as score, cast(frequency as decimal(18, 2)) as value
    from customer_rfm
    union all
    select 'm' as dimension, m_score as score, monetary as value
    from customer_rfm
),

cut_points as (
    select
        {{ as_of_date() }} as as_of,
        cast('{{ score_method() }}' as string) as score_method,
        cast({{ score_buckets() }} as integer) as score_buckets,
        cast(dimension as string) as dimension,
        cast(score as integer) as score,
        cast(min(value) as decimal(18, 2)) as min_value,
        cast(max(value) as decimal(18, 2)) as max_value,
        cast(count(*) as integer) as customers
    from dimension_values
    group by dimension, score
)

select * from cut_points
