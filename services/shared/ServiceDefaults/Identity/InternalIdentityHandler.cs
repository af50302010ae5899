namespace ScheduledPosts.ServiceDefaults.Identity;

/// <summary>Stamps a service's own identity on its outgoing internal calls (HTTP or gRPC).</summary>
public sealed class InternalIdentityHandler(InternalIdentityCodec codec, InternalIdentity identity) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.Remove(InternalIdentity.Header);
        request.Headers.Add(InternalIdentity.Header, codec.Encode(identity));
        return base.SendAsync(request, cancellationToken);
    }
}
