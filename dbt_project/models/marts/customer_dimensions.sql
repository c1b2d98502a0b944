{#- One row per customer known at the as-of date with coarse, non-identifying dimensions BI
    tools slice by: age band, gender, region, country, marketing consent, acquisition channel and
    month, and the segment at the as-of date (unscored_segment() when none). Published keyed by
    the pseudonymous customer_key, like every customer table: no name, e-mail, phone or birth
    date ever reaches it. -#}
with

profiles as (
    select * from {{ ref('int_customers__profile') }}
),

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

dimensions as (
    select
        profiles.customer_id,
        {{ as_of_date() }} as as_of,
        cast(coalesce(customer_rfm.segment, {{ unscored_segment() }}) as string) as segment,
        profiles.age_band,
        profiles.gender,
        profiles.region,
        profiles.country,
        profiles.marketing_opt_in,
        cast(profiles.acquisition_channel as string) as acquisition_channel,
        profiles.acquisition_month,
        profiles.first_order_date is null as is_prospect
    from profiles
    left join customer_rfm
        on profiles.customer_id = customer_rfm.customer_id
)

select * from dimensions
