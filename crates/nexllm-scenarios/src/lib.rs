//! Integration scenarios against nexllm-mock that every nexllm transport runs (being written).
