{#- Refresh settings, validated once at compile time so a typo fails loudly.

    `run_var(name)` is how every model reads a setting. A Dagster run hands its settings over in
    the environment variable SEGMENTS_DBT_VARS (JSON), read only while executing; a `dbt` run by
    hand uses `--vars` or the defaults of dbt_project.yml, as `var()` does; unit tests see only
    their own `overrides: vars:` and those defaults. Why not plain `--vars`:
    dbt re-parses the whole project whenever the command-line vars differ from the previous
    invocation's (and every refresh has its own as-of date), which costs seconds per dbt step.
    Values read only at execution time leave the parse unchanged, so dbt's partial parsing applies
    (pipeline/segments/dbt_parse.py keeps its state per warehouse). -#}
{% macro run_var(name, default=none) -%}
    {#- Unit tests keep var(): their `overrides: vars:` and the defaults, never the run's. -#}
    {%- if execute and model.resource_type != 'unit_test' -%}
        {%- set run_vars = fromjson(env_var('SEGMENTS_DBT_VARS', '{}')) -%}
        {%- if name in run_vars -%}
            {{ return(run_vars[name]) }}
        {%- endif -%}
    {%- endif -%}
    {%- if default is none -%}
        {{ return(var(name)) }}
    {%- else -%}
        {{ return(var(name, default)) }}
    {%- endif -%}
{%- endmacro %}

{#- The as-of date; var as_of "" (the standalone default) means today. -#}
{% macro as_of_date() -%}
    {%- if run_var("as_of") -%}
        cast('{{ run_var("as_of") }}' as date)
    {%- else -%}
        current_date
    {%- endif -%}
{%- endmacro %}

{% macro score_buckets() -%}
    {%- set buckets = run_var('score_buckets') | int -%}
    {%- if buckets < 3 or buckets > 10 -%}
        {{ exceptions.raise_compiler_error("var score_buckets must be between 3 and 10, got " ~ buckets) }}
    {%- endif -%}
    {{ return(buckets) }}
{%- endmacro %}

{% macro score_method() -%}
    {%- set method = run_var('score_method') | string | trim | lower -%}
    {%- if method not in ('rank', 'ntile') -%}
        {{ exceptions.raise_compiler_error("var score_method must be 'rank' or 'ntile', got " ~ method) }}
    {%- endif -%}
    {{ return(method) }}
{%- endmacro %}

{% macro monetary_mode() -%}
    {%- set mode = run_var('monetary_mode') | string | trim | lower -%}
    {%- if mode not in ('net', 'gross') -%}
        {{ exceptions.raise_compiler_error("var monetary_mode must be 'net' or 'gross', got " ~ mode) }}
    {%- endif -%}
    {{ return(mode) }}
{%- endmacro %}

{% macro cohort_grain() -%}
    {%- set grain = run_var('cohort_grain') | string | trim | lower -%}
    {%- if grain not in ('month', 'quarter') -%}
        {{ exceptions.raise_compiler_error("var cohort_grain must be 'month' or 'quarter', got " ~ grain) }}
    {%- endif -%}
    {{ return(grain) }}
{%- endmacro %}

{% macro segment_language() -%}
    {%- set language = run_var('segment_language') | string | trim | lower -%}
    {%- if language not in ('en', 'fr') -%}
        {{ exceptions.raise_compiler_error("var segment_language must be 'en' or 'fr', got " ~ language) }}
    {%- endif -%}
    {{ return(language) }}
{%- endmacro %}

{#- True when `date_column` lies in the scoring window: the `lookback_days` days ending on the
    as-of date (inclusive). lookback_days = 0 means all history. The "<= as-of" bound is applied
    separately by every model. -#}
{% macro in_scoring_window(date_column) -%}
    {%- set lookback = run_var('lookback_days') | int -%}
    {%- if lookback < 0 -%}
        {{ exceptions.raise_compiler_error("var lookback_days must be >= 0, got " ~ lookback) }}
    {%- elif lookback == 0 -%}
        true
    {%- else -%}
        {{ date_column }} > cast({{ dbt.dateadd('day', -lookback, as_of_date()) }} as date)
    {%- endif -%}
{%- endmacro %}

{#- True when `date_column` lies in the `days` days ending on the as-of date (inclusive). -#}
{% macro in_last_days(date_column, days) -%}
    {{ date_column }} > cast({{ dbt.dateadd('day', -(days | int), as_of_date()) }} as date)
    and {{ date_column }} <= {{ as_of_date() }}
{%- endmacro %}

{#- The value of whole-number var `name` (read by the caller: `value`), checked against a lower
    bound at compile time. -#}
{% macro int_var_at_least(name, value, minimum) -%}
    {%- set number = value | int -%}
    {%- if number < minimum -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be >= " ~ minimum ~ ", got " ~ value) }}
    {%- endif -%}
    {{ return(number) }}
{%- endmacro %}

{#- Days after a campaign contact during which an order counts as its conversion (0 = same day). -#}
{% macro attribution_window_days() -%}
    {{ return(int_var_at_least('attribution_window_days', run_var('attribution_window_days'), 0)) }}
{%- endmacro %}

{#- Minimum number of distinct buyers a product or category needs in a segment to be ranked. -#}
{% macro star_min_customers() -%}
    {{ return(int_var_at_least('star_min_customers', run_var('star_min_customers'), 1)) }}
{%- endmacro %}

{#- Persona breakdown cells with fewer customers than this are suppressed. -#}
{% macro persona_min_customers() -%}
    {{ return(int_var_at_least('persona_min_customers', run_var('persona_min_customers'), 1)) }}
{%- endmacro %}

{#- An NPS resting on fewer answers than this is flagged unreliable (the report hides it). -#}
{% macro nps_min_responses() -%}
    {{ return(int_var_at_least('nps_min_responses', run_var('nps_min_responses'), 1)) }}
{%- endmacro %}

{#- Weight of impact in the priority score, 0..1 (the rest is the seed's pertinence alone). -#}
{% macro priority_impact_weight() -%}
    {%- set weight = run_var('priority_impact_weight') | float -%}
    {%- if weight < 0 or weight > 1 -%}
        {{ exceptions.raise_compiler_error("var priority_impact_weight must be between 0 and 1, got " ~ weight) }}
    {%- endif -%}
    {{ return(weight) }}
{%- endmacro %}
