with

nps_responses as (
    select * from {{ source('clean', 'nps_responses') }}
),

identity_map as (
    select * from {{ source('identity', 'customer_identity_map') }}
),

rekeyed as (
    select
        nps_responses.response_id,
        nps_responses.customer_id as source_customer_id,
        coalesce(identity_map.customer_id, nps_responses.customer_id) as customer_id,
        nps_responses.responded_at,
        cast(nps_responses.score as integer) as score,
        nps_responses._source_file as source_file
    from nps_responses
    left join identity_map
        on nps_responses.customer_id = identity_map.source_customer_id
)

select * from rekeyed
