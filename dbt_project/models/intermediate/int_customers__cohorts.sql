{#- Acquisition cohort of every customer with a qualifying order on or before the as-of date
    (all history: the scoring window does not apply to cohorts). -#}
with

qualifying_orders as (
    select * from {{ ref('int_orders__qualifying') }}
),

first_orders as (
    select
        customer_id,
        min(order_date) as first_order_date
    from qualifying_orders
    group by customer_id
),

cohorts as (
    select
        customer_id,
        first_order_date,
        {{ period_start('first_order_date', cohort_grain()) }} as cohort,
        {{ period_start('first_order_date', 'month') }} as cohort_month,
        {{ periods_between_dates('first_order_date', as_of_date(), cohort_grain()) }}
            as periods_observed,
        {{ months_between_dates('first_order_date', as_of_date()) }} as months_observed
    from first_orders
)

select * from cohorts
