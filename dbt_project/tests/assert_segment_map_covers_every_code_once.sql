{#- Every RFM code 111..555 maps to exactly one segment, and the map holds no other code. -#}
with

segment_map as (
    select * from {{ ref('segment_map') }}
),

scores as (
    select 1 as score
    union all
    select 2 as score
    union all
    select 3 as score
    union all
    select 4 as score
    union all
    select 5 as score
),

expected_codes as (
    select
        {{ dbt.concat([
            "cast(r.score as string)", "cast(f.score as string)", "cast(m.score as string)"
        ]) }} as rfm_code
    from scores as r
    cross join scores as f
    cross join scores as m
),

mapped_codes as (
    select
        rfm_code,
        count(*) as mappings
    from segment_map
    group by rfm_code
),

code_problems as (
    select
        coalesce(expected_codes.rfm_code, mapped_codes.rfm_code) as rfm_code,
        case
            when mapped_codes.rfm_code is null then 'missing'
            when expected_codes.rfm_code is null then 'unexpected code'
            else 'mapped more than once'
        end as problem
    from expected_codes
    full outer join mapped_codes
        on expected_codes.rfm_code = mapped_codes.rfm_code
    where
        mapped_codes.rfm_code is null
        or expected_codes.rfm_code is null
        or mapped_codes.mappings <> 1
)

select * from code_problems
