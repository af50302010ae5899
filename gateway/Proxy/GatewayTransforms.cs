using Microsoft.Net.Http.Headers;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ScheduledPosts.Gateway.Proxy;

/// <summary>
/// What every proxied request carries: the caller as the gateway established it (signed), never as the client
/// claims it, and the request id; the API key itself stays at the gateway. (Trace context travels in
/// <c>traceparent</c>, which YARP propagates from the gateway's own span.)
/// </summary>
public sealed class GatewayTransforms(InternalIdentityCodec codec) : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        context.AddRequestTransform(transform =>
        {
            RequestTransform.RemoveHeader(transform, InternalIdentity.Header);
            RequestTransform.RemoveHeader(transform, HeaderNames.Authorization);
            RequestTransform.RemoveHeader(transform, ApiKeyAuthentication.ApiKeyHeader);
            RequestTransform.RemoveHeader(transform, RequestIds.Header);

            var headers = transform.ProxyRequest.Headers;
            headers.TryAddWithoutValidation(RequestIds.Header, RequestIds.Get(transform.HttpContext));
            if (ApiKeyAuthentication.Caller(transform.HttpContext) is { } caller)
            {
                headers.TryAddWithoutValidation(InternalIdentity.Header, codec.Encode(caller.Identity));
            }

            return ValueTask.CompletedTask;
        });

        // YARP appends the service's response headers to the gateway's: keep a single X-Request-Id.
        context.AddResponseTransform(transform =>
        {
            transform.HttpContext.Response.Headers[RequestIds.Header] = RequestIds.Get(transform.HttpContext);
            return ValueTask.CompletedTask;
        });
    }
}
