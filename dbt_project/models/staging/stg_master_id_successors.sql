{#- Retired master ids and the master each belongs to from as_of on (identity resolution keeps
    the chains followed to their end), so history can follow a customer through a merge. -#}
with

successors as (
    select * from {{ source('identity', 'master_id_successors') }}
),

renamed as (
    select
        retired_id,
        surviving_id,
        as_of
    from successors
)

select * from renamed
