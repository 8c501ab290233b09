#include "runtime/c_callers.h"

const char* c_status_string(int status) { return mf_status_string((mf_status)status); }

mf_status c_tensor_desc_contiguous(mf_tensor_desc* desc, int dtype, int32_t rank, const int64_t* shape) {
  return mf_tensor_desc_contiguous(desc, (mf_dtype)dtype, rank, shape);
}

mf_status c_device_count(int backend, int32_t* count) { return mf_device_count((mf_backend)backend, count); }

mf_status c_device_get_info(int backend, int32_t ordinal, mf_device_info* info) {
  return mf_device_get_info((mf_backend)backend, ordinal, info);
}

mf_status c_evo_attention_plan_create(mf_context context, const mf_evo_attention_desc* desc, int direction,
                                      mf_plan* plan) {
  return mf_evo_attention_plan_create(context, desc, (mf_direction)direction, plan);
}

mf_status c_layer_norm_linear_plan_create(mf_context context, const mf_layer_norm_linear_desc* desc, int direction,
                                          mf_plan* plan) {
  return mf_layer_norm_linear_plan_create(context, desc, (mf_direction)direction, plan);
}

mf_status c_transition_plan_create(mf_context context, const mf_transition_desc* desc, int direction, mf_plan* plan) {
  return mf_transition_plan_create(context, desc, (mf_direction)direction, plan);
}
