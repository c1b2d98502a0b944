with

refunds as (
    select * from {{ source('clean', 'refunds') }}
),

identity_map as (
    select * from {{ source('identity', 'customer_identity_map') }}
),

rekeyed as (
    select
        refunds.refund_id,
        refunds.customer_id as source_customer_id,
        coalesce(identity_map.customer_id, refunds.customer_id) as customer_id,
        nullif(trim(refunds.order_id), '') as order_id,
        refunds.refunded_at,
        cast(refunds.amount as decimal(18, 2)) as amount
    from refunds
    left join identity_map
        on refunds.customer_id = identity_map.source_customer_id
)

select * from rekeyed
