{#- Qualifying orders (not cancelled) dated on or before the as-of date, all history, with the
    scoring-window flag (var lookback_days). Returned orders qualify. -#}
with

orders as (
    select * from {{ ref('stg_orders') }}
),

qualifying_orders as (
    select
        order_id,
        customer_id,
        order_date,
        amount,
        status,
        channel,
        promo_code,
        discount_amount,
        is_returned,
        has_promo,
        {{ in_scoring_window('order_date') }} as is_in_scoring_window
    from orders
    where
        is_qualifying
        and order_date <= {{ as_of_date() }}
)

select * from qualifying_orders
