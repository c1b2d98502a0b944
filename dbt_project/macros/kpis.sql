{#- The KPI rules shared by segment_kpis (each refresh) and kpi_monitor (between refreshes), so
    the monitoring job measures exactly what the refresh publishes. -#}

{#- 1 when an NPS answer (0..10) is a promoter (9-10), else 0. -#}
{% macro nps_promoter(score) -%}
    case when {{ score }} >= 9 then 1 else 0 end
{%- endmacro %}

{#- 1 when an NPS answer (0..10) is a detractor (0-6), else 0. -#}
{% macro nps_detractor(score) -%}
    case when {{ score }} <= 6 then 1 else 0 end
{%- endmacro %}

{#- Net Promoter Score (-100..100) from counts; null without answers. -#}
{% macro nps_score(promoters, detractors, responses) -%}
    100.0 * cast({{ promoters }} - {{ detractors }} as double)
        / cast(nullif({{ responses }}, 0) as double)
{%- endmacro %}

{#- 1 when a customer's last qualifying order is var churn_days or more before the as-of. -#}
{% macro is_churned(recency_days) -%}
    case when {{ recency_days }} >= {{ run_var('churn_days') | int }} then 1 else 0 end
{%- endmacro %}
