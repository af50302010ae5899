using Grpc.Core;
using Grpc.Core.Interceptors;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.ServiceDefaults.Messaging;

/// <summary>Where the core's <see cref="ApiException"/> becomes a gRPC error, in the form of <see cref="GrpcErrors"/>.</summary>
public sealed class ApiErrorInterceptor : Interceptor
{
    /// <summary>What REST's <c>Retry-After: 1</c> on a 503 says.</summary>
    private static readonly TimeSpan OutageRetryDelay = TimeSpan.FromSeconds(1);

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception error) when (ToRpcException(error) is { } mapped)
        {
            throw mapped;
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (Exception error) when (ToRpcException(error) is { } mapped)
        {
            throw mapped;
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception error) when (ToRpcException(error) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <summary>The gRPC error for <paramref name="error"/>, or null to let gRPC answer it (INTERNAL, no details).</summary>
    public static RpcException? ToRpcException(Exception error) => error switch
    {
        ApiException api => GrpcErrors.Status(GrpcErrors.StatusOf(api.Status), api.Code, api.Message, api.Issues).ToRpcException(),
        // The database is away, not the request wrong: UNAVAILABLE tells the caller to retry (a claim is redelivered).
        _ when DatabaseOutage.Is(error) => GrpcErrors.Status(StatusCode.Unavailable, "UNAVAILABLE",
            "The service cannot reach its database; try again shortly.", retryAfter: OutageRetryDelay).ToRpcException(),
        _ => null,
    };
}
