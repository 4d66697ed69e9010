// Split-KV schedule on the current device (decode_schedule.h holds the policy).
#include "dsbench/kernels/cuda/decode_schedule.h"

#include "dsbench/kernels/cuda/memory.h"

namespace dsbench::kernels::cuda {

DecodeSchedule make_decode_schedule(const int32_t* host_seq_lens, int batch, int ctas_per_split) {
  return decode_schedule_for_sms(host_seq_lens, batch, ctas_per_split, device_sm_count());
}

}  // namespace dsbench::kernels::cuda
