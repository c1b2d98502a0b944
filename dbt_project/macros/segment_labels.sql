{#- Codes of rows that are not rows of a seed. One definition each: the marts write them, the
    Python side reads the same values from pipeline.lib.codes (a test checks that both agree). -#}

{#- The overall row of per-segment (and per-channel) marts: segment_kpis, themes, campaigns... -#}
{% macro overall_label() -%}
    'All'
{%- endmacro %}

{#- Customers without a segment at the as-of date (prospects, or orders outside the window). -#}
{% macro unscored_segment() -%}
    'Unscored'
{%- endmacro %}

{#- The persona attributes, in reading order: each one a column of int_customers__persona_facts
    holding a code, unpivoted by int_customers__persona_values. -#}
{% macro persona_attributes() -%}
    {{ return([
        'age_band', 'gender', 'region', 'acquisition_channel', 'acquisition_season',
        'favourite_channel', 'favourite_category', 'basket_band', 'promo_sensitivity',
        'return_behaviour', 'support_intensity', 'nps_group', 'marketing_consent',
    ]) }}
{%- endmacro %}

{#- The rows of `relation` twice: once under their segment, once under the overall row
    (overall_label()), in the column `as_column`: how every per-segment mart gets its 'All'. -#}
{% macro with_overall_rows(relation, as_column, segment_column='segment') -%}
    select {{ segment_column }} as {{ as_column }}, {{ relation }}.* from {{ relation }}
    union all
    select {{ overall_label() }} as {{ as_column }}, {{ relation }}.* from {{ relation }}
{%- endmacro %}
