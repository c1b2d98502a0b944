{#- Campaign contacts (one row per message sent) re-keyed to the master customer; the contact
    date is the day the attribution window starts from. -#}
with

campaign_contacts as (
    select * from {{ source('clean', 'campaign_contacts') }}
),

identity_map as (
    select * from {{ source('identity', 'customer_identity_map') }}
),

rekeyed as (
    {{ rekeyed_to_master('campaign_contacts', ['contact_id', 'campaign_id'], [
        'campaign_contacts.contacted_at',
        'cast(campaign_contacts.contacted_at as date) as contacted_on',
        "lower(trim(campaign_contacts.channel)) as channel",
        'cast(campaign_contacts.cost as decimal(18, 2)) as cost',
    ]) }}
)

select * from rekeyed
