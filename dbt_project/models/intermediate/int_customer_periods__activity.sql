{#- Orders and (net) revenue per cohort customer and cohort period (var cohort_grain): the
    monthly activity summed over the months of each period. -#}
with

customer_months as (
    select * from {{ ref('int_customer_months__activity') }}
),

customer_periods as (
    select
        customer_id,
        cohort,
        period_index,
        cast(sum(orders) as integer) as orders,
        cast(sum(revenue) as decimal(18, 2)) as revenue
    from customer_months
    group by customer_id, cohort, period_index
)

select * from customer_periods
