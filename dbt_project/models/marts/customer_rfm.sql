{#- One row per scored customer: RFM measures, scores, code and named segment at the as-of date. -#}
with

rfm_values as (
    select * from {{ ref('int_customers__rfm_values') }}
),

rfm_scores as (
    select * from {{ ref('int_customers__rfm_scores') }}
),

segment_map as (
    select * from {{ ref('segment_map') }}
),

segments as (
    select * from {{ ref('segments') }}
),

segmented as (
    select
        rfm_values.customer_id,
        rfm_values.as_of,
        rfm_values.recency_days,
        rfm_values.frequency,
        rfm_values.monetary,
        rfm_values.avg_basket,
        rfm_values.first_order_date,
        rfm_values.last_order_date,
        rfm_values.cohort,
        rfm_scores.r_score,
        rfm_scores.f_score,
        rfm_scores.m_score,
        rfm_scores.rfm_code,
        segment_map.segment,
        segments.label_fr,
        segments.label_en,
        segments.recommended_action_{{ segment_language() }} as recommended_action,
        segments.priority
    from rfm_values
    inner join rfm_scores
        on rfm_values.customer_id = rfm_scores.customer_id
    left join segment_map
        on rfm_scores.rfm_code = segment_map.rfm_code
    left join segments
        on segment_map.segment = segments.segment
)

select * from segmented
