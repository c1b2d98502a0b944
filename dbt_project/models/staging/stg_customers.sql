{#- Master customers: the golden records of identity resolution (already keyed by master id).
    Only the fields the marts use; birth_date never leaves the intermediate layer (age bands). -#}
with

golden_records as (
    select * from {{ source('identity', 'customers') }}
),

renamed as (
    select
        customer_id,
        created_at,
        birth_date,
        nullif(upper(trim(gender)), '') as gender,
        nullif(trim(region), '') as region,
        country,
        marketing_opt_in,
        derived_from_orders,
        source_record_count
    from golden_records
)

select * from renamed
