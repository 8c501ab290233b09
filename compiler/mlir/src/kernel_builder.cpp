#include "kernel_builder.h"

#include <limits>
#include <optional>
#include <stdexcept>

#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/Math/IR/Math.h>
#include <mlir/Dialect/MemRef/IR/MemRef.h>
#include <mlir/Dialect/SCF/IR/SCF.h>
#include <mlir/Dialect/Utils/StaticValueUtils.h>

namespace mf::compiler::mlir_generator {

using mlir::Value;

mlir::Type element_type(mlir::MLIRContext& context, ir::DType dtype) {
  mlir::Builder b(&context);
  switch (dtype) {
    case ir::DType::kBool: return b.getI8Type();
    case ir::DType::kF16: return b.getF16Type();
    case ir::DType::kBF16: return b.getBF16Type();
    case ir::DType::kF32: return b.getF32Type();
    case ir::DType::kF64: return b.getF64Type();
  }
  return b.getF32Type();
}

KernelBuilder::KernelBuilder(mlir::ImplicitLocOpBuilder& builder, mlir::FloatType compute)
    : b_(builder), compute_(compute) {}

Value KernelBuilder::index(std::int64_t value) { return mlir::arith::ConstantIndexOp::create(b_, value); }

Value KernelBuilder::real(double value) {
  return mlir::arith::ConstantOp::create(b_, mlir::cast<mlir::TypedAttr>(b_.getFloatAttr(compute_, value)));
}

Value KernelBuilder::size(const Tensor& tensor, int dimension) {
  return b_.createOrFold<mlir::memref::DimOp>(tensor.memref, static_cast<std::int64_t>(dimension));
}

Value KernelBuilder::to_real(Value index) {
  Value integer = mlir::arith::IndexCastOp::create(b_, b_.getI64Type(), index);
  return mlir::arith::SIToFPOp::create(b_, compute_, integer);
}

Value KernelBuilder::is_set(const Tensor& tensor, mlir::ValueRange indices) {
  Value element = mlir::memref::LoadOp::create(b_, tensor.memref, indices);
  Value zero = mlir::arith::ConstantOp::create(b_, mlir::cast<mlir::TypedAttr>(b_.getIntegerAttr(element.getType(), 0)));
  return mlir::arith::CmpIOp::create(b_, mlir::arith::CmpIPredicate::ne, element, zero);
}

Value KernelBuilder::load(const Tensor& tensor, mlir::ValueRange indices) {
  Value element = mlir::memref::LoadOp::create(b_, tensor.memref, indices);
  mlir::Type type = element.getType();
  if (type == compute_) return element;
  if (tensor.dtype == ir::DType::kBool) return select(is_set(tensor, indices), real(1.0), real(0.0));
  if (mlir::cast<mlir::FloatType>(type).getWidth() < compute_.getWidth())
    return mlir::arith::ExtFOp::create(b_, compute_, element);
  return mlir::arith::TruncFOp::create(b_, compute_, element);
}

void KernelBuilder::store(const Tensor& tensor, mlir::ValueRange indices, Value value) {
  auto type = mlir::cast<mlir::MemRefType>(tensor.memref.getType()).getElementType();
  if (type != value.getType()) {
    auto width = mlir::cast<mlir::FloatType>(type).getWidth();
    value = width < compute_.getWidth() ? mlir::arith::TruncFOp::create(b_, type, value).getResult()
                                        : mlir::arith::ExtFOp::create(b_, type, value).getResult();
  }
  mlir::memref::StoreOp::create(b_, value, tensor.memref, indices);
}

void KernelBuilder::loop(Value begin, Value end, const Body& body) {
  auto step = index(1);
  auto loop = mlir::scf::ForOp::create(b_, begin, end, step);
  mlir::OpBuilder::InsertionGuard guard(b_);
  b_.setInsertionPoint(loop.getBody()->getTerminator());
  body(loop.getInductionVar());
}

Value KernelBuilder::sum(Value begin, Value end, const Term& term) {
  return sums(begin, end, 1, [&](Value i) { return std::vector<Value>{term(i)}; }).front();
}

std::vector<Value> KernelBuilder::sums(Value begin, Value end, std::size_t count,
                                       const std::function<std::vector<Value>(Value)>& terms) {
  std::vector<Value> zeros(count, real(0.0));
  auto loop = mlir::scf::ForOp::create(
      b_, b_.getLoc(), begin, end, index(1), zeros,
      [&](mlir::OpBuilder& nested, mlir::Location, Value i, mlir::ValueRange carried) {
        mlir::OpBuilder::InsertionGuard guard(b_);
        b_.setInsertionPoint(nested.getInsertionBlock(), nested.getInsertionPoint());
        std::vector<Value> next = terms(i);
        for (std::size_t s = 0; s < count; ++s) next[s] = add(carried[s], next[s]);
        mlir::scf::YieldOp::create(b_, next);
      });
  return {loop.getResults().begin(), loop.getResults().end()};
}

Value KernelBuilder::maximum(Value begin, Value end, const Term& term) {
  Value lowest = real(-std::numeric_limits<double>::infinity());
  auto loop = mlir::scf::ForOp::create(
      b_, b_.getLoc(), begin, end, index(1), mlir::ValueRange{lowest},
      [&](mlir::OpBuilder& nested, mlir::Location, Value i, mlir::ValueRange carried) {
        mlir::OpBuilder::InsertionGuard guard(b_);
        b_.setInsertionPoint(nested.getInsertionBlock(), nested.getInsertionPoint());
        Value next = mlir::arith::MaximumFOp::create(b_, carried.front(), term(i));
        mlir::scf::YieldOp::create(b_, next);
      });
  return loop.getResult(0);
}

Tensor KernelBuilder::scratch(Value length) {
  const ir::DType dtype = compute_.getWidth() == 64 ? ir::DType::kF64 : ir::DType::kF32;
  if (!gpu_arena_) {
    auto type = mlir::MemRefType::get({mlir::ShapedType::kDynamic}, compute_);
    return {mlir::memref::AllocOp::create(b_, type, mlir::ValueRange{length}), dtype};
  }
  std::optional<std::int64_t> elements = mlir::getConstantIntValue(length);
  if (!elements) throw std::logic_error("a GPU kernel's scratch row needs a length known when it is built");
  // Offset slot + used·threads, stride threads: the rows of all threads interleave.
  Value offset = index_add(gpu_slot_, index(gpu_scratch_used_ * gpu_threads_));
  gpu_scratch_used_ += *elements;
  gpu_function_->setAttr(kScratchAttr, b_.getI64IntegerAttr(gpu_scratch_used_));
  auto layout = mlir::StridedLayoutAttr::get(b_.getContext(), mlir::ShapedType::kDynamic, {gpu_threads_});
  auto type = mlir::MemRefType::get({*elements}, compute_, layout);
  std::vector<mlir::OpFoldResult> sizes{b_.getIndexAttr(*elements)}, strides{b_.getIndexAttr(gpu_threads_)};
  Value row = mlir::memref::ReinterpretCastOp::create(b_, type, gpu_arena_, offset, sizes, strides);
  return {row, dtype};
}

void KernelBuilder::release(const Tensor& scratch) {
  if (!gpu_arena_) mlir::memref::DeallocOp::create(b_, scratch.memref);
}

void KernelBuilder::use_gpu_scratch(Value arena, Value slot, std::int64_t threads, mlir::Operation* function) {
  gpu_function_ = function;
  gpu_arena_ = arena;
  gpu_slot_ = slot;
  gpu_threads_ = threads;
}

// Sums may be reassociated and products fused into them, so that LLVM vectorises the
// reductions. A compiled program still computes the same bits every run, and the split
// of a stage across threads never changes an iteration's order.
static mlir::arith::FastMathFlagsAttr relaxed(mlir::OpBuilder& b) {
  return mlir::arith::FastMathFlagsAttr::get(b.getContext(),
                                             mlir::arith::FastMathFlags::reassoc | mlir::arith::FastMathFlags::contract);
}

Value KernelBuilder::add(Value a, Value b) { return mlir::arith::AddFOp::create(b_, a, b, relaxed(b_)); }
Value KernelBuilder::sub(Value a, Value b) { return mlir::arith::SubFOp::create(b_, a, b, relaxed(b_)); }
Value KernelBuilder::mul(Value a, Value b) { return mlir::arith::MulFOp::create(b_, a, b, relaxed(b_)); }
Value KernelBuilder::div(Value a, Value b) { return mlir::arith::DivFOp::create(b_, a, b); }
Value KernelBuilder::rsqrt(Value a) { return mlir::math::RsqrtOp::create(b_, a); }
Value KernelBuilder::exp(Value a) { return mlir::math::ExpOp::create(b_, a); }
Value KernelBuilder::log(Value a) { return mlir::math::LogOp::create(b_, a); }
Value KernelBuilder::infinity() { return real(std::numeric_limits<double>::infinity()); }
Value KernelBuilder::greater(Value a, Value b) {
  return mlir::arith::CmpFOp::create(b_, mlir::arith::CmpFPredicate::OGT, a, b);
}
Value KernelBuilder::select(Value condition, Value if_true, Value if_false) {
  return mlir::arith::SelectOp::create(b_, condition, if_true, if_false);
}
Value KernelBuilder::index_rem(Value a, Value b) { return b_.createOrFold<mlir::arith::RemUIOp>(a, b); }
Value KernelBuilder::index_add(Value a, Value b) { return b_.createOrFold<mlir::arith::AddIOp>(a, b); }
Value KernelBuilder::index_mul(Value a, Value b) { return b_.createOrFold<mlir::arith::MulIOp>(a, b); }
Value KernelBuilder::index_div(Value a, Value b) { return b_.createOrFold<mlir::arith::DivUIOp>(a, b); }

}  // namespace mf::compiler::mlir_generator
