{#- Buying preferences of every scored customer over the scoring window: favourite category (most
    revenue in non-returned orders, ties by category name), favourite channel (most orders, ties by
    channel name), share of orders with a promo code, return rate. -#}
with

qualifying_orders as (
    select * from {{ ref('int_orders__qualifying') }}
),

customer_categories as (
    select * from {{ ref('int_customer_categories__scoring_window') }}
),

window_orders as (
    select *
    from qualifying_orders
    where is_in_scoring_window
),

category_totals as (
    select
        customer_id,
        category,
        revenue as category_revenue,
        quantity as category_quantity
    from customer_categories
    where category is not null
),

ranked_categories as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by category_revenue desc nulls last, category asc
        ) as category_rank
    from category_totals
),

favourite_categories as (
    select
        customer_id,
        category as favourite_category,
        category_revenue as favourite_category_revenue
    from ranked_categories
    where category_rank = 1
),

channel_totals as (
    select
        customer_id,
        channel,
        count(*) as channel_orders
    from window_orders
    where channel is not null
    group by customer_id, channel
),

ranked_channels as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by channel_orders desc, channel asc
        ) as channel_rank
    from channel_totals
),

favourite_channels as (
    select
        customer_id,
        channel as favourite_channel
    from ranked_channels
    where channel_rank = 1
),

order_totals as (
    select
        customer_id,
        count(*) as orders,
        sum(case when has_promo then 1 else 0 end) as promo_orders,
        sum(case when is_returned then 1 else 0 end) as returned_orders
    from window_orders
    group by customer_id
),

preferences as (
    select
        order_totals.customer_id,
        {{ as_of_date() }} as as_of,
        cast(order_totals.orders as integer) as orders,
        cast(favourite_categories.favourite_category as string) as favourite_category,
        cast(favourite_categories.favourite_category_revenue as decimal(18, 2))
            as favourite_category_revenue,
        cast(favourite_channels.favourite_channel as string) as favourite_channel,
        cast(order_totals.promo_orders as integer) as promo_orders,
        cast(order_totals.promo_orders as double) / cast(order_totals.orders as double)
            as promo_order_share,
        cast(order_totals.returned_orders as integer) as returned_orders,
        cast(order_totals.returned_orders as double) / cast(order_totals.orders as double)
            as return_rate
    from order_totals
    left join favourite_categories
        on order_totals.customer_id = favourite_categories.customer_id
    left join favourite_channels
        on order_totals.customer_id = favourite_channels.customer_id
)

select * from preferences
