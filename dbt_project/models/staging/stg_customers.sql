{#- Master customers: the golden records of identity resolution (already keyed by master id). -#}
with

golden_records as (
    select * from {{ source('identity', 'customers') }}
),

renamed as (
    select
        customer_id,
        created_at,
        country,
        marketing_opt_in,
        derived_from_orders,
        source_record_count
    from golden_records
)

select * from renamed
