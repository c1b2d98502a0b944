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

attributed_refunds as (
    select
        refunds.refund_id,
        refunds.order_id,
        coalesce(orders.customer_id, refunds.customer_id) as customer_id,
        refunds.refunded_at,
        refunds.amount,
        {{ in_scoring_window('refunds.refunded_at') }} as is_in_scoring_window
    from refunds
    left join orders
        on refunds.order_id = orders.order_id
    where
        refunds.refunded_at <= {{ as_of_date() }}
        and (orders.order_id is null or orders.is_qualifying)
)

select * from attributed_refunds
