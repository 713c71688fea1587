package front

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// DemoPod is the one pod the peers serve: its containers are this host (internal/runtime).
func DemoPod(started time.Time) *corev1.Pod {
	at := metav1.NewTime(started)
	containers := []corev1.Container{
		{Name: "shell", Image: "kube-stream-gateway/peer-shell"},
		{Name: "echo", Image: "kube-stream-gateway/peer-echo", Command: []string{"cat"}, Stdin: true, StdinOnce: true},
		{Name: "web", Image: "kube-stream-gateway/peer-web", Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}, {ContainerPort: 7, Protocol: corev1.ProtocolTCP}}},
	}
	statuses := make([]corev1.ContainerStatus, 0, len(containers))
	for _, c := range containers {
		statuses = append(statuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: ptr(true),
			ContainerID: "peer://" + c.Name,
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at}},
		})
	}
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "demo", Namespace: "default", UID: types.UID("9d5e3c3a-7f0e-4b8e-9c55-2f4f3c7e0d01"),
			ResourceVersion: "1", CreationTimestamp: at,
			Annotations: map[string]string{"kubectl.kubernetes.io/default-container": "shell"},
		},
		Spec: corev1.PodSpec{Containers: containers, NodeName: "peer-node"},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, HostIP: "127.0.0.1", PodIP: "127.0.0.1", StartTime: &at,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: at}},
			ContainerStatuses: statuses,
		},
	}
}

func ptr[T any](v T) *T { return &v }

// coreResources is the core/v1 discovery document for what the peers serve.
func coreResources() *metav1.APIResourceList {
	return &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: "v1",
		APIResources: []metav1.APIResource{
			{Name: "namespaces", SingularName: "namespace", Namespaced: false, Kind: "Namespace", Verbs: []string{"get", "list"}, ShortNames: []string{"ns"}},
			{Name: "pods", SingularName: "pod", Namespaced: true, Kind: "Pod", Verbs: []string{"get", "list"}, ShortNames: []string{"po"}, Categories: []string{"all"}},
			{Name: "pods/attach", Namespaced: true, Kind: "PodAttachOptions", Verbs: []string{"create", "get"}},
			{Name: "pods/exec", Namespaced: true, Kind: "PodExecOptions", Verbs: []string{"create", "get"}},
			{Name: "pods/portforward", Namespaced: true, Kind: "PodPortForwardOptions", Verbs: []string{"create", "get"}},
		},
	}
}
