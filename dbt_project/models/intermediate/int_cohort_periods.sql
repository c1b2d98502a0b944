{#- The period spine of every acquisition cohort: one row per cohort and period from 0 (the
    acquisition period) to the period holding the as-of date, with the cohort's size. That last
    period is partial unless the as-of date is its last day (is_partial_period): a retention
    figure there covers only part of a period and reads as a drop. Cohorts are at most 999
    periods long (integers_0_to_999). -#}
with

cohorts as (
    select * from {{ ref('int_customers__cohorts') }}
),

integers as (
    {{ integers_0_to_999() }}
),

cohort_sizes as (
    select
        cohort,
        count(*) as cohort_size,
        max(periods_observed) as last_period_index
    from cohorts
    group by cohort
),

spine as (
    select
        cohort_sizes.cohort,
        cast(integers.n as integer) as period_index,
        cast({{ dbt.dateadd(cohort_grain(), 'integers.n', 'cohort_sizes.cohort') }} as date)
            as period_start,
        cast(cohort_sizes.cohort_size as integer) as cohort_size,
        {#- The as-of period is partial when the next day still lies in it. -#}
        (
            integers.n = cohort_sizes.last_period_index
            and {{ period_number(dbt.dateadd('day', 1, as_of_date()), cohort_grain()) }}
            = {{ period_number(as_of_date(), cohort_grain()) }}
        ) as is_partial_period
    from cohort_sizes
    inner join integers
        on integers.n <= cohort_sizes.last_period_index
)

select * from spine
