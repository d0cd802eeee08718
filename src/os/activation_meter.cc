#include "os/activation_meter.h"

namespace gust::os {

ActivationMeter::ActivationMeter(std::unique_ptr<UsageMeter> meter) : meter_(std::move(meter)) {}

std::optional<ProcessUsage> ActivationMeter::read() {
  if (!meter_) return std::nullopt;
  auto usage = meter_->read();
  if (!usage.isOk()) return std::nullopt;
  return *usage;
}

ActivationMeter::Start ActivationMeter::begin() {
  if (ended_ || !meter_) return std::nullopt;
  // A peak that cannot be reset still bounds this activation's from above: keep the reading.
  (void)meter_->resetPeak();
  return read();
}

ActivationUsage ActivationMeter::usageSince(const Start& start) {
  if (!start) return {};
  std::optional<ProcessUsage> now = ended_ ? final_ : read();
  if (!now) return {};
  CpuSplit cpu = cpuBetween(*start, *now);
  return {cpu.user_ns, cpu.system_ns, now->peak_rss_bytes};
}

void ActivationMeter::takeFinalReading() {
  if (ended_) return;
  final_ = read();
  ended_ = true;
}

}  // namespace gust::os
