{#- Acquisition month-of-year comparison (e.g. January vs July cohorts): average revenue per
    customer (CLV) over the first 3, 6 and 12 months since acquisition. Only customers acquired
    at least k full months before the as-of month count for the k-month CLV. Always monthly,
    whatever var cohort_grain says. -#}
with

cohorts as (
    select * from {{ ref('int_customers__cohorts') }}
),

customer_months as (
    select * from {{ ref('int_customer_months__activity') }}
),

integers as (
    {{ integers_0_to_999() }}
),

months_of_year as (
    select n as acquisition_month
    from integers
    where n between 1 and 12
),

customer_windows as (
    select
        cohorts.customer_id,
        cohorts.cohort_month,
        cast(extract(month from cohorts.cohort_month) as integer) as acquisition_month,
        cohorts.months_observed,
        sum(case when customer_months.month_index < 3 then customer_months.revenue else 0 end)
            as revenue_3m,
        sum(case when customer_months.month_index < 6 then customer_months.revenue else 0 end)
            as revenue_6m,
        sum(case when customer_months.month_index < 12 then customer_months.revenue else 0 end)
            as revenue_12m
    from cohorts
    inner join customer_months
        on cohorts.customer_id = customer_months.customer_id
    group by
        cohorts.customer_id,
        cohorts.cohort_month,
        cohorts.months_observed
),

month_totals as (
    select
        acquisition_month,
        count(distinct cohort_month) as cohorts,
        count(*) as customers,
        sum(case when months_observed >= 3 then 1 else 0 end) as customers_3m,
        sum(case when months_observed >= 3 then revenue_3m else 0 end) as revenue_3m,
        sum(case when months_observed >= 6 then 1 else 0 end) as customers_6m,
        sum(case when months_observed >= 6 then revenue_6m else 0 end) as revenue_6m,
        sum(case when months_observed >= 12 then 1 else 0 end) as customers_12m,
        sum(case when months_observed >= 12 then revenue_12m else 0 end) as revenue_12m
    from customer_windows
    group by acquisition_month
),

comparison as (
    select
        cast(months_of_year.acquisition_month as integer) as acquisition_month,
        months_of_year.acquisition_month in (1, 7) as is_january_or_july,
        cast(coalesce(month_totals.cohorts, 0) as integer) as cohorts,
        cast(coalesce(month_totals.customers, 0) as integer) as customers,
        cast(coalesce(month_totals.customers_3m, 0) as integer) as customers_3m,
        cast(month_totals.revenue_3m as double)
            / cast(nullif(month_totals.customers_3m, 0) as double) as clv_3m,
        cast(coalesce(month_totals.customers_6m, 0) as integer) as customers_6m,
        cast(month_totals.revenue_6m as double)
            / cast(nullif(month_totals.customers_6m, 0) as double) as clv_6m,
        cast(coalesce(month_totals.customers_12m, 0) as integer) as customers_12m,
        cast(month_totals.revenue_12m as double)
            / cast(nullif(month_totals.customers_12m, 0) as double) as clv_12m,
        {{ as_of_date() }} as as_of
    from months_of_year
    left join month_totals
        on months_of_year.acquisition_month = month_totals.acquisition_month
)

select * from comparison
