{#- A 64-bit hash of a text key, for joining a large table on a number instead of a
    64-character pseudonym (fct_pupil_month's absence: the join on the text spilled and
    took a third of the model at the ZH+NH pool). Not unique by construction: each use
    has a test that no two values share a hash (assert_pupil_key_hashes_are_unique). -#}
{% macro key_hash(expression) -%}
    {{ return(adapter.dispatch('key_hash', 'pilotmonitor')(expression)) }}
{%- endmacro %}

{% macro default__key_hash(expression) -%}
    hash({{ expression }})
{%- endmacro %}

{% macro postgres__key_hash(expression) -%}
    hashtextextended({{ expression }}, 0)
{%- endmacro %}

{% macro spark__key_hash(expression) -%}
    xxhash64({{ expression }})
{%- endmacro %}

{#- A 64-bit hash of a combination of columns (a list of names), never null (a null column
    hashes too). Not unique: a shared hash only makes rows candidates, which
    unique_combination_of_columns then compares by the columns themselves. -#}
{% macro columns_hash(columns) -%}
    {{ return(adapter.dispatch('columns_hash', 'pilotmonitor')(columns)) }}
{%- endmacro %}

{% macro default__columns_hash(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}

{% macro postgres__columns_hash(columns) -%}
    hashtextextended(cast(row({{ columns | join(', ') }}) as text), 0)
{%- endmacro %}

{% macro spark__columns_hash(columns) -%}
    xxhash64({{ columns | join(', ') }})
{%- endmacro %}
