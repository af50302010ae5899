using Grpc.Core;
using Grpc.Core.Interceptors;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.ServiceDefaults.Messaging;

/// <summary>Maps the core's <see cref="ApiException"/> to gRPC status codes, with the envelope's code in the trailers.</summary>
public sealed class ApiErrorInterceptor : Interceptor
{
    public const string CodeTrailer = "sp-error-code";

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (ApiException error)
        {
            throw new RpcException(new Status(StatusOf(error), error.Message), new Metadata { { CodeTrailer, error.Code } });
        }
        catch (Exception error) when (DatabaseOutage.Is(error))
        {
            // The database is away, not the request wrong: Unavailable tells the caller to retry (a claim is redelivered).
            throw new RpcException(new Status(StatusCode.Unavailable, "The database is not reachable; try again.", error));
        }
    }

    private static StatusCode StatusOf(ApiException error) => error.Status switch
    {
        400 or 413 or 422 => StatusCode.InvalidArgument,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.NotFound,
        409 or 412 => StatusCode.FailedPrecondition,
        429 => StatusCode.ResourceExhausted,
        503 => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };
}
