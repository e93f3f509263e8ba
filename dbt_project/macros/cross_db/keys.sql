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
