namespace ScheduledPosts.ServiceDefaults.Identity;

/// <summary>
/// Stamps a service's own identity on its outgoing internal calls (HTTP or gRPC): a token of this process's issuer for
/// <paramref name="audience"/> (or the request's <see cref="AudienceOption"/>), bound to each request's method and path.
/// </summary>
public sealed class InternalIdentityHandler(InternalTokenIssuer issuer, InternalIdentity identity, string? audience = null) : DelegatingHandler
{
    /// <summary>Names the receiving service of one request, when the handler serves several (the gateway's OpenAPI fetch).</summary>
    public static readonly HttpRequestOptionsKey<string> AudienceOption = new("sp-internal-audience");

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        string to = request.Options.TryGetValue(AudienceOption, out string? named) ? named
            : audience ?? throw new InvalidOperationException("An internal call must name the service it is for.");
        string path = Uri.UnescapeDataString(request.RequestUri!.AbsolutePath);
        request.Headers.Remove(InternalIdentity.Header);
        request.Headers.Add(InternalIdentity.Header, issuer.Issue(identity, to, request.Method.Method, path));
        return base.SendAsync(request, cancellationToken);
    }
}
