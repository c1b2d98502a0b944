{#- Orders, promo orders, discounts and revenue per cohort customer and calendar month since
    acquisition (month_index, 0 = acquisition month) with the cohort period index (var
    cohort_grain). Revenue is net of refunds in monetary_mode 'net'; a refund dated before the
    acquisition month counts in it. -#}
with

cohorts as (
    select * from {{ ref('int_customers__cohorts') }}
),

qualifying_orders as (
    select * from {{ ref('int_orders__qualifying') }}
),

attributed_refunds as (
    select * from {{ ref('int_refunds__attributed') }}
),

order_events as (
    select
        qualifying_orders.customer_id,
        cohorts.cohort,
        cohorts.cohort_month,
        {{ periods_between_dates('cohorts.first_order_date', 'qualifying_orders.order_date',
            cohort_grain()) }} as period_index,
        {{ months_between_dates('cohorts.first_order_date', 'qualifying_orders.order_date') }}
            as month_index,
        1 as orders,
        case when qualifying_orders.has_promo then 1 else 0 end as promo_orders,
        qualifying_orders.discount_amount,
        qualifying_orders.amount as gross_amount,
        cast(0 as decimal(18, 2)) as refund_amount
    from qualifying_orders
    inner join cohorts
        on qualifying_orders.customer_id = cohorts.customer_id
),

refund_events as (
    select
        attributed_refunds.customer_id,
        cohorts.cohort,
        cohorts.cohort_month,
        greatest(0, {{ periods_between_dates('cohorts.first_order_date',
            'attributed_refunds.refunded_at', cohort_grain()) }}) as period_index,
        greatest(0, {{ months_between_dates('cohorts.first_order_date',
            'attributed_refunds.refunded_at') }}) as month_index,
        0 as orders,
        0 as promo_orders,
        cast(0 as decimal(18, 2)) as discount_amount,
        cast(0 as decimal(18, 2)) as gross_amount,
        attributed_refunds.amount as refund_amount
    from attributed_refunds
    inner join cohorts
        on attributed_refunds.customer_id = cohorts.customer_id
    where {{ 'true' if monetary_mode() == 'net' else 'false' }}
),

events as (
    select * from order_events
    union all
    select * from refund_events
),

{# The events carry their cohort from the joins above: joining every event to the cohorts a
    second time only to read these two columns cost a second hash join over all of them. -#}
customer_months as (
    select
        customer_id,
        cohort,
        cohort_month,
        period_index,
        month_index,
        cast(sum(orders) as integer) as orders,
        cast(sum(promo_orders) as integer) as promo_orders,
        cast(sum(discount_amount) as decimal(18, 2)) as discount_amount,
        cast(sum(gross_amount) as decimal(18, 2)) as gross_amount,
        cast(sum(refund_amount) as decimal(18, 2)) as refund_amount,
        cast(sum(gross_amount) - sum(refund_amount) as decimal(18, 2)) as revenue
    from events
    group by
        customer_id,
        cohort,
        cohort_month,
        period_index,
        month_index
)

select * from customer_months
