with

refunds as (
    select * from {{ source('clean', 'refunds') }}
),

identity_map as (
    select * from {{ source('identity', 'customer_identity_map') }}
),

rekeyed as (
    {{ rekeyed_to_master('refunds', ['refund_id'], [
        "nullif(trim(refunds.order_id), '') as order_id",
        'refunds.refunded_at',
        'cast(refunds.amount as decimal(18, 2)) as amount',
    ]) }}
)

select * from rekeyed
