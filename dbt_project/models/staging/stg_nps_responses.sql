with

nps_responses as (
    select * from {{ source('clean', 'nps_responses') }}
),

identity_map as (
    select * from {{ source('identity', 'customer_identity_map') }}
),

rekeyed as (
    {{ rekeyed_to_master('nps_responses', ['response_id'], [
        'nps_responses.responded_at',
        'cast(nps_responses.score as integer) as score',
        'nps_responses._source_file as source_file',
    ]) }}
)

select * from rekeyed
