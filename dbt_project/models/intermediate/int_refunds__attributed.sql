{#- Refunds dated on or before the as-of date, attributed to a master customer: the customer of
    the refunded order when the order is known, else the refund's own customer id (refunds
    without order id still lower monetary). Refunds of cancelled orders are dropped: the order
    never counted. The scoring window applies to the refund date. -#}
with

refunds as (
    select * from {{ ref('stg_refunds') }}
),

orders as (
    select * from {{ ref('stg_orders') }}
),

{# Only the orders that have a refund (about one in ten): filtering on the refunds' order ids
    before the join lets the engine re-key just those orders (the identity join inside
    stg_orders) instead of all of them. Same result: the orders left out could not match. -#}
refunded_orders as (
    select
        order_id,
        customer_id,
        is_qualifying
    from orders
    where order_id in (select refunds.order_id from refunds)
),

attributed_refunds as (
    select
        refunds.refund_id,
        refunds.order_id,
        coalesce(refunded_orders.customer_id, refunds.customer_id) as customer_id,
        refunds.refunded_at,
        refunds.amount,
        {{ in_scoring_window('refunds.refunded_at') }} as is_in_scoring_window
    from refunds
    left join refunded_orders
        on refunds.order_id = refunded_orders.order_id
    where
        refunds.refunded_at <= {{ as_of_date() }}
        and (refunded_orders.order_id is null or refunded_orders.is_qualifying)
)

select * from attributed_refunds
