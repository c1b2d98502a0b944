{#- Orders re-keyed to the master customer id (the one lookup join staging does: renaming a
    key). -#}
with

orders as (
    select * from {{ source('clean', 'orders') }}
),

identity_map as (
    select * from {{ source('identity', 'customer_identity_map') }}
),

rekeyed as (
    {{ rekeyed_to_master('orders', ['order_id'], [
        'orders.order_date',
        'cast(orders.amount as decimal(18, 2)) as amount',
        'lower(trim(orders.status)) as status',
        "nullif(trim(orders.channel), '') as channel",
        "nullif(trim(orders.promo_code), '') as promo_code",
        'cast(coalesce(orders.discount_amount, 0) as decimal(18, 2)) as discount_amount',
    ]) }}
),

flagged as (
    select
        *,
        status <> 'cancelled' as is_qualifying,
        status = 'returned' as is_returned,
        promo_code is not null as has_promo
    from rekeyed
)

select * from flagged
