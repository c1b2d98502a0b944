with

support_tickets as (
    select * from {{ source('clean', 'support_tickets') }}
),

identity_map as (
    select * from {{ source('identity', 'customer_identity_map') }}
),

rekeyed as (
    {{ rekeyed_to_master('support_tickets', ['ticket_id'], [
        'support_tickets.created_at',
        "nullif(lower(trim(support_tickets.topic)), '') as topic",
    ]) }}
)

select * from rekeyed
