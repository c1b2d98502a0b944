{#- Coarse, non-identifying dimensions of every master customer known at the as-of date (a
    golden record created on or before it, or a customer with a qualifying order): age band at
    the as-of date, gender, region, country, marketing consent, acquisition channel and month.
    Unknown values are the code 'unknown', so every customer lands in exactly one band. -#}
with

master_customers as (
    select * from {{ ref('stg_customers') }}
),

acquisition as (
    select * from {{ ref('int_customers__acquisition') }}
),

ages as (
    select
        customer_id,
        {#- Whole years between birth and the as-of date: year difference, minus one while the
            birthday of the as-of year is still ahead. -#}
        cast(extract(year from {{ as_of_date() }}) - extract(year from birth_date) as integer)
        - case
            when
                extract(month from {{ as_of_date() }}) * 100 + extract(day from {{ as_of_date() }})
                < extract(month from birth_date) * 100 + extract(day from birth_date)
                then 1
            else 0
        end as age_years
    from master_customers
    where birth_date is not null
),

{# Golden records known at the as-of date, and buyers the identity map did not know. -#}
known_customers as (
    select customer_id
    from master_customers
    where created_at is null or cast(created_at as date) <= {{ as_of_date() }}
    union
    select customer_id
    from acquisition
),

profiles as (
    select
        known_customers.customer_id,
        cast(case
            when ages.age_years is null or ages.age_years < 0 or ages.age_years > 110 then 'unknown'
            when ages.age_years < 25 then '<25'
            when ages.age_years < 35 then '25-34'
            when ages.age_years < 45 then '35-44'
            when ages.age_years < 55 then '45-54'
            when ages.age_years < 65 then '55-64'
            else '65+'
        end as string) as age_band,
        cast(case
            when master_customers.gender in ('F', 'FEMALE', 'FEMME', 'W') then 'female'
            when master_customers.gender in ('M', 'MALE', 'HOMME', 'H') then 'male'
            when master_customers.gender is null then 'unknown'
            else 'other'
        end as string) as gender,
        cast(coalesce(master_customers.region, 'unknown') as string) as region,
        cast(coalesce(master_customers.country, 'unknown') as string) as country,
        master_customers.marketing_opt_in,
        acquisition.acquisition_channel,
        acquisition.acquisition_month,
        acquisition.first_order_date
    from known_customers
    left join master_customers
        on known_customers.customer_id = master_customers.customer_id
    left join ages
        on known_customers.customer_id = ages.customer_id
    left join acquisition
        on known_customers.customer_id = acquisition.customer_id
)

select * from profiles
