with

support_tickets as (
    select * from {{ source('clean', 'support_tickets') }}
),

identity_map as (
    select * from {{ source('identity', 'customer_identity_map') }}
),

rekeyed as (
    select
        support_tickets.ticket_id,
        support_tickets.customer_id as source_customer_id,
        coalesce(identity_map.customer_id, support_tickets.customer_id) as customer_id,
        support_tickets.created_at,
        support_tickets.topic
    from support_tickets
    left join identity_map
        on support_tickets.customer_id = identity_map.source_customer_id
)

select * from rekeyed
