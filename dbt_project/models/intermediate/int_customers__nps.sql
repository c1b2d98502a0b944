{#- NPS answers per master customer over the var nps_window_days days ending on the as-of date:
    answers, promoters (9-10), detractors (0-6) and the latest answer's score (ties by response
    id). The one definition of "a customer's NPS answers" for segment_kpis, the support themes
    and the personas. -#}
with

nps_responses as (
    select * from {{ ref('stg_nps_responses') }}
),

windowed_answers as (
    select
        customer_id,
        score,
        row_number() over (
            partition by customer_id
            order by responded_at desc, response_id desc
        ) as answer_rank
    from nps_responses
    where {{ in_last_days('responded_at', run_var('nps_window_days')) }}
),

customer_nps as (
    select
        customer_id,
        count(*) as nps_responses,
        sum({{ nps_promoter('score') }}) as promoters,
        sum({{ nps_detractor('score') }}) as detractors,
        max(case when answer_rank = 1 then score end) as latest_score
    from windowed_answers
    group by customer_id
)

select * from customer_nps
