{#- The r/f/m score columns of the segment map spell its code, and 11 segments are used. -#}
with

segment_map as (
    select * from {{ ref('segment_map') }}
),

mismatched_codes as (
    select
        rfm_code,
        'scores do not spell the code' as problem
    from segment_map
    where rfm_code <> {{ dbt.concat([
        "cast(r_score as string)", "cast(f_score as string)", "cast(m_score as string)"
    ]) }}
),

segment_count as (
    select
        cast(count(distinct segment) as string) as rfm_code,
        'expected 11 segments' as problem
    from segment_map
    having count(distinct segment) <> 11
),

problems as (
    select * from mismatched_codes
    union all
    select * from segment_count
)

select * from problems
