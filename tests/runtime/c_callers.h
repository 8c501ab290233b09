// Calls made from C, where an enum parameter may hold any int (in C++ a value outside the
// enumerators' range is undefined). c_callers.c also proves that mfjit.h compiles as C99.
#pragma once

#include "mfjit/mfjit.h"

#ifdef __cplusplus
extern "C" {
#endif

const char* c_status_string(int status);
mf_status c_tensor_desc_contiguous(mf_tensor_desc* desc, int dtype, int32_t rank, const int64_t* shape);
mf_status c_device_count(int backend, int32_t* count);
mf_status c_device_get_info(int backend, int32_t ordinal, mf_device_info* info);
mf_status c_evo_attention_plan_create(mf_context context, const mf_evo_attention_desc* desc, int direction,
                                      mf_plan* plan);
mf_status c_layer_norm_linear_plan_create(mf_context context, const mf_layer_norm_linear_desc* desc, int direction,
                                          mf_plan* plan);
mf_status c_transition_plan_create(mf_context context, const mf_transition_desc* desc, int direction, mf_plan* plan);

#ifdef __cplusplus
}
#endif
