{#- Every scored customer described by the codes of the persona attributes (one column each),
    all computed over the same window as the scores: socio-demographic (age band, gender,
    region), behavioural (acquisition channel and season, favourite channel and category,
    basket band) and psychographic proxies (promo sensitivity, returns, support intensity, the
    customer's latest NPS answer in var nps_window_days). Missing values are 'unknown'. -#}
with

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

rfm_values as (
    select * from {{ ref('int_customers__rfm_values') }}
),

preferences as (
    select * from {{ ref('customer_preferences') }}
),

profiles as (
    select * from {{ ref('int_customers__profile') }}
),

customer_nps as (
    select * from {{ ref('int_customers__nps') }}
),

facts as (
    select
        customer_rfm.customer_id,
        customer_rfm.segment,
        customer_rfm.r_score,
        customer_rfm.f_score,
        customer_rfm.recency_days,
        customer_rfm.frequency,
        customer_rfm.monetary,
        customer_rfm.avg_basket,
        coalesce(preferences.promo_order_share, 0) as promo_order_share,
        coalesce(preferences.return_rate, 0) as return_rate,
        rfm_values.tickets,
        coalesce(profiles.age_band, 'unknown') as age_band,
        coalesce(profiles.gender, 'unknown') as gender,
        coalesce(profiles.region, 'unknown') as region,
        coalesce(profiles.acquisition_channel, 'unknown') as acquisition_channel,
        case
            when extract(month from customer_rfm.first_order_date) in (12, 1, 2) then 'winter'
            when extract(month from customer_rfm.first_order_date) in (3, 4, 5) then 'spring'
            when extract(month from customer_rfm.first_order_date) in (6, 7, 8) then 'summer'
            else 'autumn'
        end as acquisition_season,
        coalesce(lower(preferences.favourite_channel), 'unknown') as favourite_channel,
        coalesce(preferences.favourite_category, 'unknown') as favourite_category,
        case
            when customer_rfm.avg_basket < 30 then '<30'
            when customer_rfm.avg_basket < 60 then '30-60'
            when customer_rfm.avg_basket < 100 then '60-100'
            when customer_rfm.avg_basket < 200 then '100-200'
            else '200+'
        end as basket_band,
        case
            when coalesce(preferences.promo_order_share, 0) = 0 then 'never'
            when preferences.promo_order_share < 0.5 then 'sometimes'
            else 'mostly'
        end as promo_sensitivity,
        case
            when coalesce(preferences.return_rate, 0) = 0 then 'none'
            when
                preferences.return_rate <= {{ run_var('serial_returner_rate') | float }}
                then 'some'
            else 'frequent'
        end as return_behaviour,
        case
            when rfm_values.tickets = 0 then 'none'
            when rfm_values.tickets = 1 then 'one'
            else 'several'
        end as support_intensity,
        case
            when customer_nps.latest_score is null then 'no_answer'
            when customer_nps.latest_score >= 9 then 'promoter'
            when customer_nps.latest_score >= 7 then 'passive'
            else 'detractor'
        end as nps_group,
        case
            when profiles.marketing_opt_in is null then 'unknown'
            when profiles.marketing_opt_in then 'opted_in'
            else 'opted_out'
        end as marketing_consent
    from customer_rfm
    inner join rfm_values
        on customer_rfm.customer_id = rfm_values.customer_id
    left join preferences
        on customer_rfm.customer_id = preferences.customer_id
    left join profiles
        on customer_rfm.customer_id = profiles.customer_id
    left join customer_nps
        on customer_rfm.customer_id = customer_nps.customer_id
)

select * from facts
