{#- One row per scored customer: RFM measures, scores, code and named segment at the as-of date. -#}
with

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
        rfm_scores.customer_id,
        rfm_scores.as_of,
        rfm_scores.recency_days,
        rfm_scores.frequency,
        rfm_scores.monetary,
        rfm_scores.avg_basket,
        rfm_scores.first_order_date,
        rfm_scores.last_order_date,
        rfm_scores.cohort,
        rfm_scores.r_score,
        rfm_scores.f_score,
        rfm_scores.m_score,
        rfm_scores.rfm_code,
        segment_map.segment,
        segments.label_fr,
        segments.label_en,
        segments.recommended_action_{{ segment_language() }} as recommended_action,
        segments.priority
    from rfm_scores
    left join segment_map
        on rfm_scores.rfm_code = segment_map.rfm_code
    left join segments
        on segment_map.segment = segments.segment
)

select * from segmented
