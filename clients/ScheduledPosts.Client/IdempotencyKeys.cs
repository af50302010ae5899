using Grpc.Core;
using Grpc.Core.Interceptors;

namespace ScheduledPosts.Client;

/// <summary>
/// Gives every unary call that changes something (any method but <c>Get…</c> and <c>List…</c>) an
/// <c>idempotency-key</c> of its own unless the caller set one. gRPC's retry policy resends a call with the same
/// metadata, so a <c>CreatePost</c> retried after an <c>UNAVAILABLE</c> whose first attempt did reach the server is
/// answered from that first attempt instead of creating a second post. A caller that retries on its own should set
/// the key itself, once for all its attempts.
/// </summary>
internal sealed class IdempotencyKeys : Interceptor
{
    public const string Header = "idempotency-key";

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        => continuation(request, WithKey(context));

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation)
        => continuation(request, WithKey(context));

    private static ClientInterceptorContext<TRequest, TResponse> WithKey<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context)
        where TRequest : class
        where TResponse : class
    {
        if (context.Method.Name.StartsWith("Get", StringComparison.Ordinal) || context.Method.Name.StartsWith("List", StringComparison.Ordinal)
            || context.Options.Headers?.Get(Header) is not null)
        {
            return context;
        }

        var headers = new Metadata();
        foreach (var entry in context.Options.Headers ?? [])
        {
            headers.Add(entry);
        }

        headers.Add(Header, Guid.NewGuid().ToString("N"));
        return new(context.Method, context.Host, context.Options.WithHeaders(headers));
    }
}
