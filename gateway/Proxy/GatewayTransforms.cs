using Microsoft.Net.Http.Headers;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ScheduledPosts.Gateway.Proxy;

/// <summary>
/// What every proxied request carries: the caller as the gateway established it, never as the client claims it, and
/// the request id; the API key itself stays at the gateway. The caller travels in a token the gateway signs for this
/// one request: for the route's cluster (the audience service), with the method and path the service will see (after
/// the route's own transforms, which run before these). (Trace context travels in <c>traceparent</c>, which YARP
/// propagates from the gateway's own span.)
/// </summary>
public sealed class GatewayTransforms(InternalTokenIssuer issuer) : ITransformProvider
{
    /// <summary>Route metadata: the service scope the gateway states for a route's callers without an API key.</summary>
    public const string ServiceScopeMetadata = "ServiceScope";

    /// <summary>Cluster metadata: the service (the identity token's audience) when it is not the cluster's id.</summary>
    public const string AudienceMetadata = "Audience";

    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        // The service the cluster is: its id, or its Metadata.Audience when one service has two (REST and gRPC ports).
        string audience = context.Cluster?.Metadata?.GetValueOrDefault(AudienceMetadata) ?? context.Cluster?.ClusterId ?? context.Route.ClusterId
            ?? throw new InvalidOperationException($"Proxy route '{context.Route.RouteId}' names no cluster.");
        // A route without API keys (the OAuth callback a browser reaches) may name the one service scope the gateway
        // states for its callers instead: what they may do is then bound by what they carry (a signed state).
        string? serviceScope = context.Route.Metadata?.GetValueOrDefault(ServiceScopeMetadata);
        context.AddRequestTransform(transform =>
        {
            RequestTransform.RemoveHeader(transform, InternalIdentity.Header);
            RequestTransform.RemoveHeader(transform, HeaderNames.Authorization);
            RequestTransform.RemoveHeader(transform, ApiKeyAuthenticationHandler.ApiKeyHeader);
            RequestTransform.RemoveHeader(transform, RequestIds.Header);

            var headers = transform.ProxyRequest.Headers;
            headers.TryAddWithoutValidation(RequestIds.Header, RequestIds.Get(transform.HttpContext));
            // On a route that names a service scope, that is the identity, whoever calls: a key sent along goes no further.
            var identity = serviceScope is not null ? InternalIdentity.Service(InternalIssuers.Gateway, serviceScope)
                : ApiKeyCaller.Of(transform.HttpContext)?.Identity;
            if (identity is not null)
            {
                headers.TryAddWithoutValidation(InternalIdentity.Header,
                    issuer.Issue(identity, audience, transform.ProxyRequest.Method.Method, DestinationPath(transform)));
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

    /// <summary>The path the service receives: the destination's own path prefix, if any, then the transformed path.</summary>
    private static string DestinationPath(RequestTransformContext transform)
    {
        // As YARP joins them: the prefix without its trailing slash, then the path.
        string prefix = Uri.UnescapeDataString(new Uri(transform.DestinationPrefix).AbsolutePath).TrimEnd('/');
        string path = prefix + transform.Path.Value;
        return path.Length == 0 ? "/" : path;
    }
}
