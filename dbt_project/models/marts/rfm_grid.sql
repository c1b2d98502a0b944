{#- The R x F grid: customers, revenue and average monetary value per (R score, F score) cell,
    over scored customers (empty cells have no row). -#}
with

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

cells as (
    select
        {{ as_of_date() }} as as_of,
        r_score,
        f_score,
        cast(count(*) as integer) as customers,
        cast(sum(monetary) as decimal(18, 2)) as revenue,
        {{ safe_divide('sum(monetary)', 'count(*)') }} as avg_monetary
    from customer_rfm
    group by r_score, f_score
)

select * from cells
