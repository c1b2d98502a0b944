{#- How and when every customer was acquired: the date, month and channel of the first
    qualifying order (all history up to the as-of date). Several first-day orders: the first
    channel by name among those known; none known: 'unknown'. -#}
with

cohorts as (
    select * from {{ ref('int_customers__cohorts') }}
),

qualifying_orders as (
    select * from {{ ref('int_orders__qualifying') }}
),

first_day_orders as (
    select
        cohorts.customer_id,
        cohorts.first_order_date,
        cohorts.cohort_month,
        lower(qualifying_orders.channel) as channel
    from cohorts
    inner join qualifying_orders
        on
            cohorts.customer_id = qualifying_orders.customer_id
            and cohorts.first_order_date = qualifying_orders.order_date
),

acquisition as (
    select
        customer_id,
        first_order_date,
        cohort_month as acquisition_month,
        cast(coalesce(min(channel), 'unknown') as string) as acquisition_channel
    from first_day_orders
    group by
        customer_id,
        first_order_date,
        cohort_month
)

select * from acquisition
